"""The market: instruments, expiry calendars, option pricing, snapshots and the simulator.

Depends on nothing else in alvh (SPEC section 2: market <- brokers <- strategies <- daemon).
"""
