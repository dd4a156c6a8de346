"""Point-in-time feature families built as Ibis expressions on the engine."""
