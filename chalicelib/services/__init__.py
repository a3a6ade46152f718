"""Use cases: each public function is one thing a route or a handler asks for."""
