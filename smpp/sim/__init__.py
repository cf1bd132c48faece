"""The SMSC simulator: an SMSC with personalities, used by the demo and the tests."""
