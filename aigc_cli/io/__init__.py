"""I/O helpers: atomic files, image files in and out, progress bars."""
