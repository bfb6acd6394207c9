"""Emulator of the Salesforce REST API, OAuth/SOAP login and Bulk API 2.0, as simple-salesforce uses them."""
