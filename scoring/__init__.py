"""Learning from a company's own history: labels, features, models, indexes, segments."""
