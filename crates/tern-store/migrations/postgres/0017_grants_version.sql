-- Every request that decides anything needs the caller's grants in the organization: their
-- teams, and those teams' workspace and project access. A replica keeps them parsed in memory,
-- keyed by this counter, which each request reads with the organization row it loads anyway.
-- The triggers below bump it in the same transaction as any change to teams, memberships or
-- team access, so no code path can change a grant without it (docs/benchmarks.md, section 8),
-- and a revocation made through one replica is seen by every other on its next request.
-- A bump draws a new random value rather than adding one: a database moved back in time (a
-- restored backup, a failover to a standby that was behind) must not give a number a replica
-- has already seen for other grants.
-- EXECUTE PROCEDURE (not FUNCTION) and no OR REPLACE: both spellings work on PostgreSQL 10.
-- Keep in step with ../sqlite/0017_grants_version.sql.
ALTER TABLE organizations ADD COLUMN grants_version BIGINT NOT NULL DEFAULT 0;

-- For teams: the organization is on the row.
CREATE FUNCTION tern_team_grants_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE organizations SET grants_version = (random() * 9007199254740991)::BIGINT WHERE id = OLD.organization_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE organizations SET grants_version = (random() * 9007199254740991)::BIGINT
        WHERE id = NEW.organization_id AND (TG_OP = 'INSERT' OR NEW.organization_id <> OLD.organization_id);
    END IF;
    RETURN NULL;
END;
$$;

-- For memberships and team access: the organization is the team's.
CREATE FUNCTION tern_team_member_grants_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE organizations SET grants_version = (random() * 9007199254740991)::BIGINT
        WHERE id = (SELECT organization_id FROM teams WHERE id = OLD.team_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE organizations SET grants_version = (random() * 9007199254740991)::BIGINT
        WHERE id = (SELECT organization_id FROM teams WHERE id = NEW.team_id)
          AND (TG_OP = 'INSERT' OR NEW.team_id <> OLD.team_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER teams_grants AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH ROW EXECUTE PROCEDURE tern_team_grants_changed();
CREATE TRIGGER team_members_grants AFTER INSERT OR UPDATE OR DELETE ON team_members
    FOR EACH ROW EXECUTE PROCEDURE tern_team_member_grants_changed();
CREATE TRIGGER team_workspaces_grants AFTER INSERT OR UPDATE OR DELETE ON team_workspaces
    FOR EACH ROW EXECUTE PROCEDURE tern_team_member_grants_changed();
CREATE TRIGGER team_projects_grants AFTER INSERT OR UPDATE OR DELETE ON team_projects
    FOR EACH ROW EXECUTE PROCEDURE tern_team_member_grants_changed();
