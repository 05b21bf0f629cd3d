"""physar-ray: Phys-AR (physics-aware autoregressive video generation with RL) on Ray."""

__version__ = "0.1.0"
