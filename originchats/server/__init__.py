"""The imperative shell: sockets, the hub that runs effects, the writer and reader, timers."""
