"""Referral tickets, departments directory, routing, SLA clocks, escalation, audit."""
