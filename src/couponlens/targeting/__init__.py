"""Targeting: who gets which coupon under a budget."""
