"""The checks rampart ships: one module per area, one class per check."""
