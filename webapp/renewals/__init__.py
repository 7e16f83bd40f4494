"""Terms ending soon: the page, reminders at 30/14/7 days, auto-renewal."""
