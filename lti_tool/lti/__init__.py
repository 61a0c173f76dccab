"""The LTI 1.3 adapter: the only package that touches pylti1p3."""
