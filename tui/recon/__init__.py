"""View 4, reconciliation review: the breaks between the ledger and the broker, one break in
full, the actions that clear it, and the latest position and cash checks. The engine owns
reconciliation (`recon.*` methods, the `recon` event topic); offline this package reads the
ledger's reconciliation tables read-only."""
