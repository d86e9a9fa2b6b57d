"""What the offline side holds (receipts, inventories) and what the next bundle leaves out."""
