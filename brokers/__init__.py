"""The paper broker: orders, fill model, fees, positions and P&L, margin, settlement, the ledger.

Depends only on ``market`` (SPEC section 2: market <- brokers <- strategies <- daemon). The broker
knows no bus: it takes commands through handlers and publishes events through a callable.
"""
