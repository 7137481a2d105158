"""Publisher reports: their figures (`figures`), files (`render`) and delivery by email (`mail`)."""
