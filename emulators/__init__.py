"""Local emulators of Sage Intacct, Salesforce, QuickBooks Online and ESP+ (SPEC D), for the sandbox and the tests."""
