"""Built-in nasdsl plugins, loaded through the ``nasdsl`` entry-point group like any third-party package."""
