"""CSV downloads of the services, incidents and activity lists, with the pages' filters."""
