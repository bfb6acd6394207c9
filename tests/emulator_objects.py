"""Which emulator admin object (GET /__admin/records/{OBJECT}) holds the records of each stream."""

from __future__ import annotations

# Streams whose API object name differs from the emulator's admin object (ESP+ only; elsewhere they are equal).
ADMIN_OBJECTS: dict[tuple[str, str], str] = {
    ("esp", "companies"): "Company",
    ("esp", "contacts"): "Contact",
    ("esp", "users"): "User",
    ("esp", "orders"): "Order",
    ("esp", "purchaseorders"): "PurchaseOrder",
    ("esp", "bills"): "Bill",
    ("esp", "quickbooks_links"): "QuickBooksLink",
    ("esp", "quickbooks_settings"): "QuickBooksSettings",
}
