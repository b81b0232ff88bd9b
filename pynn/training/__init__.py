"""The data side of fit's epoch loop: rows read in place (arrays, memory maps), chunk
iterables, and what each epoch trains on.

May import: pynn.training and the base."""
