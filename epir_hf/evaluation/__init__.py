"""Reference methods from the literature that the spotter is compared with on identical input."""
