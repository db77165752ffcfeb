"""The users of the web app: accounts with a role, passwords kept only as argon2 hashes,
and the rule that one enabled admin always remains. A part of
:class:`~ketamine_ptsd.store.records.Records` (its ``transaction`` and audit)."""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketamine_ptsd.errors import InputError

from .database import DatabaseRefused
from .models import ROLES, User, utcnow


class UserAccounts:
    """The user methods of the records; ``transaction()`` is the records' own."""

    def transaction(self) -> AbstractContextManager[Session]:  # pragma: no cover - Records defines it
        raise NotImplementedError

    def add_user(self, name: str, role: str, password: str) -> User:
        """Add a user of the web app; the password is kept only as an argon2 hash."""
        if not name or not name.strip() or len(name) > 120:
            raise InputError("name", "empty or longer than 120 characters", "1-120 characters")
        if role not in ROLES:
            raise InputError("role", f"unknown role {role!r}", ", ".join(ROLES))
        if not password or len(password) < 8:
            raise InputError("password", "shorter than 8 characters", "8 or more characters")
        try:
            with self.transaction() as session:
                if session.scalar(select(User.id).where(User.name == name.strip())) is not None:
                    raise InputError("name", "already taken", "a new user name")
                user = User(name=name.strip(), role=role, password_hash=PasswordHasher().hash(password),
                            created_at=utcnow())
                session.add(user)
                session.flush()
            return user
        except DatabaseRefused as exc:
            if not exc.conflict:
                raise
            raise InputError("name", "already taken", "a new user name") from None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` matches and the user is not disabled, else None."""
        with self.transaction() as session:
            user = session.scalar(select(User).where(User.name == name))
        # An unknown name costs one verification too, so the answer time does not reveal
        # which accounts exist.
        stored = user.password_hash if user is not None else _unknown_user_hash()
        try:
            PasswordHasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return None if user.disabled else user

    def users(self) -> list[User]:
        """Every user, by name."""
        with self.transaction() as session:
            return list(session.scalars(select(User).order_by(User.name)))

    @staticmethod
    def _user(session: Session, name: str) -> User:
        user = session.scalar(select(User).where(User.name == str(name).strip()))
        if user is None:
            raise InputError("name", f"no user named {name!r}", "the name of a user of the records")
        return user

    @staticmethod
    def _keep_an_admin(session: Session, user: User) -> None:
        """Refuse a change that would leave no enabled admin (nobody could manage users)."""
        others = session.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.disabled.is_(False), User.id != user.id))
        if not others:
            raise InputError("name", f"{user.name} is the last enabled admin",
                             "add or enable another admin first")

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        """Disable (or enable again) a user; a disabled user cannot sign in and their open
        sessions end at their next request. Audited."""
        with self.transaction() as session:
            user = self._user(session, name)
            if disabled and user.role == "admin" and not user.disabled:
                self._keep_an_admin(session, user)
            user.disabled = bool(disabled)
        return user

    def set_user_role(self, name: str, role: str) -> User:
        """Change a user's role (admin, clinician, readonly); effective at their next request. Audited."""
        if role not in ROLES:
            raise InputError("role", f"unknown role {role!r}", ", ".join(ROLES))
        with self.transaction() as session:
            user = self._user(session, name)
            if user.role == "admin" and role != "admin" and not user.disabled:
                self._keep_an_admin(session, user)
            user.role = role
        return user

    def reset_password(self, name: str, password: str) -> User:
        """Set a new password (kept only as an argon2 hash); the change is audited, the hash not."""
        if not password or len(password) < 8:
            raise InputError("password", "shorter than 8 characters", "8 or more characters")
        if len(password) > 1024:
            raise InputError("password", "longer than 1024 characters", "8-1024 characters")
        with self.transaction() as session:
            user = self._user(session, name)
            user.password_hash = PasswordHasher().hash(password)
        return user


@cache
def _unknown_user_hash() -> str:
    """A hash no password matches in practice, verified when the user name is unknown."""
    return PasswordHasher().hash(secrets.token_hex(32))
