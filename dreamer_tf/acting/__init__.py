"""Acting (the paper's Fig. 3c): the policy step, the driver that steps
environments with it, and its export as a SavedModel."""
