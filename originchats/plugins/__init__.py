"""The plugins the server ships (docs/plugins.md): copy one into `<data_dir>/plugins/` to turn it on.
The server never imports this package itself."""
