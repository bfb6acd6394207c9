"""Emulator of the Sage Intacct XML Web Services gateway (`POST /ia/xml/xmlgw.phtml`) for Crosswalk's sandbox."""
