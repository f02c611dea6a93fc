"""Handoff: governed data flow from CRM through PSA and HRIS to ERP, and back."""
