-- Every request that decides anything needs the caller's grants in the organization: their
-- teams, and those teams' workspace and project access. A replica keeps them parsed in memory,
-- keyed by this counter, which each request reads with the organization row it loads anyway.
-- The triggers below bump it in the same statement as any change to teams, memberships or team
-- access, so no code path can change a grant without it (docs/benchmarks.md, section 8), and a
-- revocation made through one replica is seen by every other on its next request.
-- A bump draws a new random value rather than adding one: a database moved back in time (a
-- restored backup, a failover to a standby that was behind) must not give a number a replica
-- has already seen for other grants.
-- Keep in step with ../postgres/0017_grants_version.sql.
ALTER TABLE organizations ADD COLUMN grants_version BIGINT NOT NULL DEFAULT 0;

CREATE TRIGGER teams_grants_inserted AFTER INSERT ON teams BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991) WHERE id = NEW.organization_id;
END;
CREATE TRIGGER teams_grants_updated AFTER UPDATE ON teams BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991) WHERE id IN (OLD.organization_id, NEW.organization_id);
END;
CREATE TRIGGER teams_grants_deleted AFTER DELETE ON teams BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991) WHERE id = OLD.organization_id;
END;

CREATE TRIGGER team_members_grants_inserted AFTER INSERT ON team_members BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id = (SELECT organization_id FROM teams WHERE id = NEW.team_id);
END;
CREATE TRIGGER team_members_grants_updated AFTER UPDATE ON team_members BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id IN (SELECT organization_id FROM teams WHERE id IN (OLD.team_id, NEW.team_id));
END;
CREATE TRIGGER team_members_grants_deleted AFTER DELETE ON team_members BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id = (SELECT organization_id FROM teams WHERE id = OLD.team_id);
END;

CREATE TRIGGER team_workspaces_grants_inserted AFTER INSERT ON team_workspaces BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id = (SELECT organization_id FROM teams WHERE id = NEW.team_id);
END;
CREATE TRIGGER team_workspaces_grants_updated AFTER UPDATE ON team_workspaces BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id IN (SELECT organization_id FROM teams WHERE id IN (OLD.team_id, NEW.team_id));
END;
CREATE TRIGGER team_workspaces_grants_deleted AFTER DELETE ON team_workspaces BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id = (SELECT organization_id FROM teams WHERE id = OLD.team_id);
END;

CREATE TRIGGER team_projects_grants_inserted AFTER INSERT ON team_projects BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id = (SELECT organization_id FROM teams WHERE id = NEW.team_id);
END;
CREATE TRIGGER team_projects_grants_updated AFTER UPDATE ON team_projects BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id IN (SELECT organization_id FROM teams WHERE id IN (OLD.team_id, NEW.team_id));
END;
CREATE TRIGGER team_projects_grants_deleted AFTER DELETE ON team_projects BEGIN
    UPDATE organizations SET grants_version = (random() & 9007199254740991)
    WHERE id = (SELECT organization_id FROM teams WHERE id = OLD.team_id);
END;
