"""HTTP layer: app factory, middleware, dependencies, route assembly from the capability matrix."""
