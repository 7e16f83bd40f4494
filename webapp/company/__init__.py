"""The company (the MSP) and its settings: time zone, business hours, reminders."""
