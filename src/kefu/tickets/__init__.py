"""Tickets (工单): templates with custom fields, states, SLA clocks on business calendars,
reminders and escalation, automation triggers, the customer portal and reports."""
