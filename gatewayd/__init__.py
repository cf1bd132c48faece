"""gatewayd: an SMPP-native SMS gateway daemon for Kenyan networks."""

__version__ = "0.1.0"
