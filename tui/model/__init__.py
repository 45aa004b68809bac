"""What the console knows: engine records parsed from the wire, and the live state."""
