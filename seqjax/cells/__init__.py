"""One file per family of recurrent cells."""
