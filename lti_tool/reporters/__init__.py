"""Pages for the people who report cases to the awarding body (the ALS team and the quality
lead): the queue of cases to report and the report's downloads."""
