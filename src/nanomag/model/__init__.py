"""Physics: the device (grain, leads, bath), the multi-level grain and the occupation factors.

Nothing here imports a solver.  A :class:`Device` is frozen, validated data;
every engine of nanomag takes the same object.
"""

from .device import Channel, Device, Grain, Lead, Sectors, reduced_device
from .multilevel import Level, MultiLevelGrain
from .occupation import bose_factor, fermi, fermi_hole
from .protocol import Protocol, Segment
from .units import DIMENSIONLESS, UnitSystem

__all__ = ["Grain", "Lead", "Device", "Sectors", "Channel", "reduced_device", "Level", "MultiLevelGrain",
           "fermi", "fermi_hole", "bose_factor", "Segment", "Protocol", "UnitSystem", "DIMENSIONLESS"]
