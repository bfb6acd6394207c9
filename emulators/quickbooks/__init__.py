"""Emulator of QuickBooks Online: the Accounting API v3 (JSON) and the Intuit OAuth 2 endpoints its clients use."""
