"""Pure domain code: no AWS, no clock, no environment."""
