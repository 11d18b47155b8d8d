"""The bot in Teams: access, activities, conversation events, security, replies and the welcome."""
