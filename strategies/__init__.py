"""ALVH: regime, shared market state, the layer actors and their exit rules.

Actors know no bus: they receive events through ``on_<event>`` handlers and emit commands and
events through a ``publish`` callable handed to them (SPEC section 2).
"""
