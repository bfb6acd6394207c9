"""ESP+ (ASI) emulator: the ESP+ web app's private "babou" REST API, PascalCase JSON, with our QuickBooks extensions."""
