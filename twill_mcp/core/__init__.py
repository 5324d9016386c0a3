"""What every layer may import: errors, settings, credentials, logging."""
