import java.sql.Array;
import java.sql.BatchUpdateException;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The PostgreSQL JDBC driver (pgJDBC) against MemorySql: prepared statements past prepareThreshold,
 * parameter and result metadata before execution, CallableStatement, batches, autocommit off.
 *
 * Usage: java -cp classes:postgresql.jar JdbcClient SCENARIO
 * The connection comes from MEMORYSQL_HOST, _PORT, _USER, _PASSWORD, _DATABASE (and _DIRECT_PORT for the
 * control that bypasses the proxy). Prints one JSON report on the last line of standard output; any error
 * exits with status 1 and its stack trace, so the calling test fails with it.
 */
public final class JdbcClient {
    static final String RECALL_TOP = "SELECT content, similarity, signals FROM recall(?, k => 1)";

    static final List<String> FACTS = List.of(
        "Dana prefers window seats on long flights",
        "The quarterly report is due on the first Monday of April",
        "Backups of the billing database run every night at two",
        "The office cat is called Pixel and sleeps on the printer",
        "Lisbon is the city Dana usually flies from",
        "Standup meetings start at nine thirty sharp");

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: JdbcClient prepare_threshold_default|prepare_threshold_1|metadata|callable|batch|batch_error|rollback|fetch_size|simple_query_mode|direct_control");
            System.exit(2);
        }
        Map<String, Object> report;
        try {
            report = switch (args[0]) {
                case "prepare_threshold_default" -> preparedPastThreshold(null);
                case "prepare_threshold_1" -> preparedPastThreshold("1");
                case "metadata" -> metadata();
                case "callable" -> callable();
                case "batch" -> batch();
                case "rollback" -> rollback();
                case "fetch_size" -> fetchSize();
                case "simple_query_mode" -> simpleQueryMode();
                case "batch_error" -> batchError();
                case "direct_control" -> directControl();
                default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
            };
        } catch (SQLException e) {
            e.printStackTrace();
            for (SQLException next = e.getNextException(); next != null; next = next.getNextException()) next.printStackTrace();
            System.err.println("SQLSTATE " + e.getSQLState());
            System.exit(1);
            return;
        }
        report.put("driver", org.postgresql.Driver.class.getPackage().getImplementationVersion());
        System.out.println(Json.write(report));
    }

    static Connection connect(boolean direct, String... settings) throws SQLException {
        var env = System.getenv();
        var port = direct ? env.get("MEMORYSQL_DIRECT_PORT") : env.get("MEMORYSQL_PORT");
        var url = "jdbc:postgresql://" + env.get("MEMORYSQL_HOST") + ":" + port + "/" + env.get("MEMORYSQL_DATABASE");
        var props = new Properties();
        props.setProperty("user", env.get("MEMORYSQL_USER"));
        props.setProperty("password", env.get("MEMORYSQL_PASSWORD"));
        props.setProperty("ApplicationName", "jdbc-client");
        props.setProperty("connectTimeout", "10");
        for (int i = 0; i + 1 < settings.length; i += 2) props.setProperty(settings[i], settings[i + 1]);
        return DriverManager.getConnection(url, props);
    }

    static List<Map<String, Object>> rows(ResultSet rs) throws SQLException {
        var rows = new ArrayList<Map<String, Object>>();
        while (rs.next()) {
            var row = new LinkedHashMap<String, Object>();
            row.put("content", rs.getString("content"));
            float similarity = rs.getFloat("similarity");
            row.put("similarity", rs.wasNull() ? null : similarity);
            Array signals = rs.getArray("signals");
            row.put("signals", Arrays.asList((String[]) signals.getArray()));
            rows.add(row);
        }
        rs.close();
        return rows;
    }

    static void rememberAll(Connection conn, List<String> texts) throws SQLException {
        try (var ps = conn.prepareStatement("CALL remember(?, kind => ?)")) {
            for (var text : texts) {
                ps.setString(1, text);
                ps.setString(2, "fact");
                ps.executeQuery().close();
            }
        }
    }

    static List<String> serverPrepared(Connection conn) throws SQLException {
        var statements = new ArrayList<String>();
        try (var st = conn.createStatement(); var rs = st.executeQuery("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")) {
            while (rs.next()) statements.add(rs.getString(1));
        }
        return statements;
    }

    /** One PreparedStatement, executed past prepareThreshold (named, server-prepared: Bind only) with a new text each time. */
    static Map<String, Object> preparedPastThreshold(String threshold) throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        try (var conn = threshold == null ? connect(false) : connect(false, "prepareThreshold", threshold)) {
            rememberAll(conn, FACTS);
            var runs = new ArrayList<Map<String, Object>>();
            var serverPrepare = new ArrayList<Boolean>();
            try (var ps = conn.prepareStatement(RECALL_TOP)) {
                var texts = new ArrayList<>(FACTS);
                texts.addAll(FACTS.subList(0, 3));
                for (var text : texts) {
                    ps.setString(1, text);
                    var run = new LinkedHashMap<String, Object>();
                    run.put("query", text);
                    run.put("recall", rows(ps.executeQuery()));
                    runs.add(run);
                    serverPrepare.add(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare());
                }
                report.put("prepare_threshold", ps.unwrap(org.postgresql.PGStatement.class).getPrepareThreshold());
            }
            report.put("runs", runs);
            report.put("server_prepared_after_each", serverPrepare);
            report.put("prepared_statements", serverPrepared(conn));
        }
        report.put("written", FACTS);
        return report;
    }

    /** getParameterMetaData and getMetaData before any execution (a standalone Parse/Describe), then executions. */
    static Map<String, Object> metadata() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        try (var conn = connect(false)) {
            try (var ps = conn.prepareStatement("SELECT content, similarity, signals FROM recall(?, k => ?)")) {
                ParameterMetaData params = ps.getParameterMetaData();
                var types = new ArrayList<String>();
                for (int i = 1; i <= params.getParameterCount(); i++) types.add(params.getParameterTypeName(i));
                report.put("recall_parameter_types", types);
                ResultSetMetaData columns = ps.getMetaData();
                var names = new ArrayList<String>();
                for (int i = 1; i <= columns.getColumnCount(); i++) names.add(columns.getColumnName(i) + ":" + columns.getColumnTypeName(i));
                report.put("recall_columns_before_execute", names);
                rememberAll(conn, FACTS.subList(0, 3));
                ps.setString(1, "window seats on flights");
                ps.setInt(2, 2);
                report.put("recall", rows(ps.executeQuery()));
                // Past the threshold the statement is named on the server; its metadata must still hide the injected parameter.
                for (int i = 0; i < 5; i++) {
                    ps.setString(1, FACTS.get(i % 3));
                    ps.setInt(2, 1);
                    rows(ps.executeQuery());
                }
                report.put("recall_parameter_count_server_prepared", ps.getParameterMetaData().getParameterCount());
            }
            try (var ps = conn.prepareStatement("CALL remember(?, tags => ?)")) {
                ParameterMetaData params = ps.getParameterMetaData();
                var types = new ArrayList<String>();
                for (int i = 1; i <= params.getParameterCount(); i++) types.add(params.getParameterTypeName(i));
                report.put("remember_parameter_types", types);
                ResultSetMetaData columns = ps.getMetaData();
                report.put("remember_columns_before_execute", columns == null ? null : columns.getColumnCount());
                ps.setString(1, FACTS.get(3));
                ps.setArray(2, conn.createArrayOf("text", new String[] {"pets"}));
                try (var rs = ps.executeQuery()) {
                    rs.next();
                    report.put("remember_id", rs.getString(1));
                }
            }
        }
        report.put("written", FACTS.subList(0, 4));
        return report;
    }

    /** CallableStatement: CALL remember(?, …, id => ?) with the INOUT id registered as an out parameter, native and in {call} escape syntax. */
    static Map<String, Object> callable() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        var ids = new ArrayList<String>();
        try (var conn = connect(false)) {
            try (CallableStatement cs = conn.prepareCall("CALL remember(?, tags => ?, id => ?)")) {
                for (var text : FACTS.subList(0, 3)) {
                    cs.setString(1, text);
                    cs.setArray(2, conn.createArrayOf("text", new String[] {"callable"}));
                    cs.setNull(3, Types.OTHER);
                    cs.registerOutParameter(3, Types.OTHER);
                    cs.execute();
                    ids.add(String.valueOf(cs.getObject(3)));
                }
            }
            report.put("ids", ids);
            try (var ps = conn.prepareStatement("SELECT content, similarity, signals FROM recall(?, k => 3, tags => ?)")) {
                ps.setString(1, "who prefers a window seat");
                ps.setArray(2, conn.createArrayOf("text", new String[] {"callable"}));
                report.put("recall", rows(ps.executeQuery()));
            }
        }
        try (var conn = connect(false, "escapeSyntaxCallMode", "callIfNoReturn")) {
            try (CallableStatement cs = conn.prepareCall("{call remember(?, kind => 'event', id => ?)}")) {
                cs.setString(1, FACTS.get(3));
                cs.setNull(2, Types.OTHER);
                cs.registerOutParameter(2, Types.OTHER);
                cs.execute();
                report.put("escape_id", String.valueOf(cs.getObject(2)));
            }
        }
        report.put("written", FACTS.subList(0, 4));
        return report;
    }

    /** addBatch/executeBatch of remember, then a recall. */
    static Map<String, Object> batch() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        var texts = FACTS.subList(1, 6);
        try (var conn = connect(false)) {
            try (var ps = conn.prepareStatement("CALL remember(?, kind => ?, tags => ?)")) {
                for (var text : texts) {
                    ps.setString(1, text);
                    ps.setString(2, "fact");
                    ps.setArray(3, conn.createArrayOf("text", new String[] {"batch"}));
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                var list = new ArrayList<Integer>();
                for (int c : counts) list.add(c);
                report.put("batch_counts", list);
            }
            try (var ps = conn.prepareStatement("SELECT content, similarity, signals FROM recall(?, k => 2, tags => ?)")) {
                ps.setString(1, "when is the quarterly report due");
                ps.setArray(2, conn.createArrayOf("text", new String[] {"batch"}));
                report.put("recall", rows(ps.executeQuery()));
            }
        }
        report.put("written", texts);
        return report;
    }

    /** Autocommit off: a rolled back remember leaves nothing, a committed one stays. */
    static Map<String, Object> rollback() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        var undone = "This memory is rolled back and must not exist";
        try (var conn = connect(false)) {
            conn.setAutoCommit(false);
            try (var ps = conn.prepareStatement("CALL remember(?)")) {
                ps.setString(1, undone);
                ps.executeQuery().close();
            }
            try (var ps = conn.prepareStatement("SELECT content, similarity, signals FROM recall(?, k => 5)")) {
                ps.setString(1, "rolled back memory");
                report.put("recall_inside", rows(ps.executeQuery()));
                conn.rollback();
                try (var remember = conn.prepareStatement("CALL remember(?)")) {
                    remember.setString(1, FACTS.get(0));
                    remember.executeQuery().close();
                }
                conn.commit();
                report.put("recall_after", rows(ps.executeQuery()));
                conn.commit();
            }
        }
        report.put("rolled_back", undone);
        report.put("written", List.of(FACTS.get(0)));
        return report;
    }

    /** preferQueryMode=simple: the driver puts the parameters into the SQL text itself (simple Query with literals). */
    static Map<String, Object> simpleQueryMode() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        var texts = List.of(FACTS.get(0), "It's Zoë's \"café\" in Zürich — 東京 too", "A backslash \\ and a doubled '' quote");
        try (var conn = connect(false, "preferQueryMode", "simple")) {
            try (var ps = conn.prepareStatement("CALL remember(?, tags => ?)")) {
                for (var text : texts) {
                    ps.setString(1, text);
                    ps.setArray(2, conn.createArrayOf("text", new String[] {"simple"}));
                    ps.executeQuery().close();
                }
            }
            var runs = new ArrayList<Map<String, Object>>();
            try (var ps = conn.prepareStatement(RECALL_TOP)) {
                for (var text : texts) {
                    ps.setString(1, text);
                    var run = new LinkedHashMap<String, Object>();
                    run.put("query", text);
                    run.put("recall", rows(ps.executeQuery()));
                    runs.add(run);
                }
            }
            report.put("runs", runs);
            report.put("prepared_statements", serverPrepared(conn));
        }
        report.put("written", texts);
        return report;
    }

    /** Autocommit off and a fetch size: the recall's portal is read in pieces (Execute with a row limit, PortalSuspended). */
    static Map<String, Object> fetchSize() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        try (var conn = connect(false)) {
            rememberAll(conn, FACTS);
            conn.setAutoCommit(false);
            try (var ps = conn.prepareStatement("SELECT content, similarity, signals FROM recall(?, k => ?)")) {
                ps.setFetchSize(2);
                ps.setString(1, "Dana flies from Lisbon and likes window seats");
                ps.setInt(2, 6);
                report.put("recall", rows(ps.executeQuery()));
            }
            conn.commit();
        }
        report.put("written", FACTS);
        return report;
    }

    /**
     * A batch whose second remember is bad input (a blank text): the driver reports it, the batch (one implicit
     * transaction) leaves nothing, and the connection goes on. Run through the proxy and directly, to compare.
     */
    static Map<String, Object> batchError() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        for (var direct : new boolean[] {false, true}) {
            var outcome = new LinkedHashMap<String, Object>();
            try (var conn = connect(direct)) {
                try (var ps = conn.prepareStatement("CALL remember(?, tags => ?)")) {
                    for (var text : List.of(FACTS.get(0), "   ", FACTS.get(1))) {
                        ps.setString(1, text);
                        ps.setArray(2, conn.createArrayOf("text", new String[] {direct ? "direct" : "proxy"}));
                        ps.addBatch();
                    }
                    ps.executeBatch();
                    outcome.put("sqlstate", null);
                } catch (BatchUpdateException e) {
                    var cause = e.getNextException() != null ? e.getNextException() : e;
                    outcome.put("sqlstate", cause.getSQLState());
                    outcome.put("message", cause.getMessage().lines().findFirst().orElse(""));
                }
                try (var ps = conn.prepareStatement("SELECT count(*) FROM memory.memories WHERE ? = ANY (tags)")) {
                    ps.setString(1, direct ? "direct" : "proxy");
                    try (var rs = ps.executeQuery()) {
                        rs.next();
                        outcome.put("stored", rs.getLong(1));
                    }
                }
                if (!direct) {
                    rememberAll(conn, FACTS.subList(2, 3));
                    try (var ps = conn.prepareStatement(RECALL_TOP)) {
                        ps.setString(1, FACTS.get(2));
                        outcome.put("recall", rows(ps.executeQuery()));
                    }
                }
            }
            report.put(direct ? "direct" : "proxy", outcome);
        }
        report.put("written", FACTS.subList(2, 3));
        return report;
    }

    /** The same recall through the proxy and directly to PostgreSQL: only the proxy supplies the vector. */
    static Map<String, Object> directControl() throws SQLException {
        var report = new LinkedHashMap<String, Object>();
        for (var direct : new boolean[] {false, true}) {
            try (var conn = connect(direct)) {
                if (!direct) rememberAll(conn, FACTS.subList(0, 3));
                try (var ps = conn.prepareStatement("SELECT content, similarity, signals FROM recall(?, k => 3)")) {
                    ps.setString(1, "window seats on flights");
                    report.put(direct ? "direct" : "recall", rows(ps.executeQuery()));
                }
            }
        }
        report.put("written", FACTS.subList(0, 3));
        return report;
    }

    /** Just enough JSON for the report: maps, lists, strings, numbers, booleans, null. */
    static final class Json {
        static String write(Object value) {
            var sb = new StringBuilder();
            write(sb, value);
            return sb.toString();
        }

        static void write(StringBuilder sb, Object value) {
            if (value == null) {
                sb.append("null");
            } else if (value instanceof String s) {
                sb.append('"');
                for (char c : s.toCharArray()) {
                    switch (c) {
                        case '"' -> sb.append("\\\"");
                        case '\\' -> sb.append("\\\\");
                        case '\n' -> sb.append("\\n");
                        case '\r' -> sb.append("\\r");
                        case '\t' -> sb.append("\\t");
                        default -> {
                            if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                            else sb.append(c);
                        }
                    }
                }
                sb.append('"');
            } else if (value instanceof Number || value instanceof Boolean) {
                sb.append(value);
            } else if (value instanceof Map<?, ?> map) {
                sb.append('{');
                var first = true;
                for (var e : map.entrySet()) {
                    if (!first) sb.append(',');
                    first = false;
                    write(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (value instanceof List<?> list) {
                sb.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) sb.append(',');
                    write(sb, list.get(i));
                }
                sb.append(']');
            } else {
                write(sb, value.toString());
            }
        }
    }
}
