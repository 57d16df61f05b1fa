"""Eligibility rules, region parameters with sources, policy knowledge base."""
