"""Reports by month: MRR and its movements, churn, health bands, SLA breaches, revenue at risk."""
