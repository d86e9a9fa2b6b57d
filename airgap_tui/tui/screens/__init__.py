"""One screen per wizard step, plus the small dialogs they open."""
