"""Bridges from edgeser to firmware: the C99 reference frontend (``frontend/``), its tables,
model export for TFLite Micro, and the event protocol to robot and kiosk controllers."""
